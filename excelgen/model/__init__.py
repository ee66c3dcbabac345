"""The math and its inputs: the config (config), the numpy reference every cell is checked against
(reference), and the documents' notation (notation). No spreadsheet here."""

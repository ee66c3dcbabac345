"""The Backprop sheet (sheet) and its parts above the table: the network diagram, the exercise switch and
the gradient check."""

"""excelgen: the backprop workbook generator."""

"""trainer: an MNIST CNN under 20k parameters, trained the documents' way."""

"""Networks: the MLP with input normalisation, and the activation table."""

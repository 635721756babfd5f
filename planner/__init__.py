"""Schedule planning by gradient through the predicted loss."""

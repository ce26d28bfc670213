"""Input data: reading image sources safely and turning images into the pixels the model expects."""

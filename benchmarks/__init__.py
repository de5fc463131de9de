"""``interop bench``: end-to-end figures next to the floors they cannot beat."""

"""What runs in the user's process: the Run, its background writer and journal."""

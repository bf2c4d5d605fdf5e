"""homeport.cli."""

"""homeport.controller."""

"""homeport.kinds."""

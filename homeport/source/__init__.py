"""homeport.source."""

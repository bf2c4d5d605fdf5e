"""homeport.clients."""

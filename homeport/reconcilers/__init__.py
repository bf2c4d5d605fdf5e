"""homeport.reconcilers."""

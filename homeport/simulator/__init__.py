"""homeport.simulator."""

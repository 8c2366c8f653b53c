"""equigen's bottom layer: helpers every other module may use; it imports nothing else of equigen."""

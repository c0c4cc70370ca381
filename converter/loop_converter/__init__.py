"""The converter node: finds models that exist in one format but not another, converts and uploads them."""

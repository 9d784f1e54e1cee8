"""Request and response models of the registry HTTP API, one module per part of the API."""

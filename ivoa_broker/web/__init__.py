"""HTTP layer: Starlette routes that parse, authorise, call services and render."""

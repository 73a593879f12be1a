"""Storage: the data-root layout, ids, atomic writes, stage markers, config, schemas and file formats.

Everything on disk goes through this package. It knows nothing of torch or Prefect.
"""

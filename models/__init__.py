"""Models: network code and foundation-model adapters. Knows nothing of Prefect."""

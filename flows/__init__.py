"""Flows: Prefect flows composing the stages, deployments, and the `ytocc` CLI."""

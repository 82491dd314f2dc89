"""Data products: registered, curated tables with an owner, a data contract and quality."""

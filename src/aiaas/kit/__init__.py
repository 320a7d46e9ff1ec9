"""Domain-free building blocks. Nothing in kit imports a domain."""

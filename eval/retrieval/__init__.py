"""Retrieval eval: demo help centre + labelled customer questions -> recall@k, MRR, no-answer."""

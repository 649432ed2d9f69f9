"""Training on the user's data: few-shot heads on frozen embeddings (and, later, fine-tuning)."""

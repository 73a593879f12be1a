"""Training on a frozen dataset: the loop, contrastive pretraining, fine-tuning, evaluation."""

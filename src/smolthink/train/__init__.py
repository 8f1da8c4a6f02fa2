"""Supervised fine-tuning: recipes (config), packing, the trainer (loss, bf16 + fp32 masters) and the run loop."""

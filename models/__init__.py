"""Model definitions (Flax NNX) and their Hugging Face conversion; `models.sharding` maps logical
parameter axes onto a device mesh. Imports only jax, flax, numpy and safetensors-format files."""

"""The GPT itself, its decoders (the KV cache, CUDA graphs) and token-by-token generation."""

"""Triton kernels for fused attention and RoPE (installed as fastlm.kernels); reference.py is the PyTorch oracle."""

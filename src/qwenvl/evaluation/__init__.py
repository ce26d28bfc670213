"""Benchmark evaluation for Qwen-VL: scoring that reproduces the official evaluators' numbers."""

"""spatialfuse.cluster"""

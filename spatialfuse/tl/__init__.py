"""spatialfuse.tl"""

"""spatialfuse.metrics"""

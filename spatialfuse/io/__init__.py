"""spatialfuse.io"""

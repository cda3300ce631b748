"""spatialfuse.im"""

"""spatialfuse.nn"""

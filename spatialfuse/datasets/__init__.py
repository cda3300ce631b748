"""spatialfuse.datasets"""

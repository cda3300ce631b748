"""spatialfuse.pl"""

"""fastlm"""

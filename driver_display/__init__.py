"""driver_display"""

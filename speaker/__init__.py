"""The MetalPool speaker: answers ARP and NDP for the IPs its node owns."""

"""The MetalPool controller: gives LoadBalancer Services an IP from IPAddressPools."""

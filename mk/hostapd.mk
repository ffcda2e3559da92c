# hostapd and wpa_supplicant for the real-hostapd test (tests/hostapd_real.rs),
# which runs them in network namespaces joined by veth pairs.
APT_PACKAGES += hostapd wpasupplicant iproute2

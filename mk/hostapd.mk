# hostapd, wpa_supplicant and wpa_cli for the real-hostapd tests (tests/hostapd_real.rs,
# tests/associated_e2e.rs; the rig is tests/support/hostapd_rig.rs), which run
# them in network namespaces joined by veth pairs.
APT_PACKAGES += hostapd wpasupplicant iproute2

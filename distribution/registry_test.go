package distribution

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// baseTransport returns the HTTP transport that s uses for host.
func baseTransport(t *testing.T, s *Service, host string) *http.Transport {
	t.Helper()
	rt, err := s.transport(host)
	if err != nil {
		t.Fatal(err)
	}
	return rt.(*schemeGuard).base
}

func TestTransportReadsNewCA(t *testing.T) {
	const host = "registry.example:5000"
	certsDir := t.TempDir()
	s, err := New(nil, Config{CertsDir: certsDir})
	if err != nil {
		t.Fatal(err)
	}
	first := baseTransport(t, s, host)
	if first.TLSClientConfig.RootCAs != nil {
		t.Fatal("a host without certificates has extra CAs")
	}
	if again := baseTransport(t, s, host); again != first {
		t.Error("the transport is not reused while the certificates directory is unchanged")
	}

	if err := os.MkdirAll(filepath.Join(certsDir, host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certsDir, host, "ca.crt"), testCA(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if baseTransport(t, s, host).TLSClientConfig.RootCAs == nil {
		t.Error("a CA added to the certificates directory is not used")
	}
}

// testCA returns a self-signed CA certificate in PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

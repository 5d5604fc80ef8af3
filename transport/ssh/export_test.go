package ssh

import "golang.org/x/crypto/ssh"

// RawClientForTest exposes the current *ssh.Client to benchmarks.
func RawClientForTest(c *Client) *ssh.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.client
}

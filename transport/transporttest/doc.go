// Package transporttest is the conformance suite every
// transport.Transport passes: transport/local, transport/ssh and
// transport/fake.
//
// Call Run from a test with a function that returns a fresh transport:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T) transport.Transport {
//			tr, err := local.New()
//			require.NoError(t, err)
//			return tr
//		})
//	}
//
// It checks exit codes, stdout and stderr, stdin, env, dir, hostile
// arguments (command substitution, quotes, newlines, leading dashes,
// unicode) reaching the program byte for byte, bounded capture of huge
// output, streaming to Stdout writers, cancellation and timeouts that
// return promptly without leaking goroutines or processes, concurrent
// Run, double Close, secrets that never show in any process's argv or
// in errors, secret files, and upload and download of a large file with
// checksums, mode and owner. A Config adapts it to transports without a
// real host behind them.
package transporttest

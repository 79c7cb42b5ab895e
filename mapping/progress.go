package mapping

// progressEvery is how many rows a read streams between two SourceOptions.OnRows
// reports: often enough for a progress bar, rare enough to cost nothing per row.
const progressEvery = 2048

// rowCounter reports rows streamed by one read to SourceOptions.OnRows in steps of
// progressEvery, and the rest when the read ends.
type rowCounter struct {
	report func(entity string, n int)
	entity string
	n      int
}

func (s *Source) rowCounter(entity string) *rowCounter {
	if s.opt.OnRows == nil {
		return nil
	}
	return &rowCounter{report: s.opt.OnRows, entity: entity}
}

func (c *rowCounter) tick() {
	c.n++
	if c.n == progressEvery {
		c.report(c.entity, c.n)
		c.n = 0
	}
}

func (c *rowCounter) flush() {
	if c != nil && c.n > 0 {
		c.report(c.entity, c.n)
		c.n = 0
	}
}

// countVersions wraps a ScanVersions callback so that its rows are counted.
func (c *rowCounter) countVersions(fn func([]byte, uint64) error) func([]byte, uint64) error {
	if c == nil {
		return fn
	}
	return func(k []byte, v uint64) error {
		c.tick()
		return fn(k, v)
	}
}

// countItems wraps a ReadAll callback so that its records are counted.
func (c *rowCounter) countItems(fn func(Item) error) func(Item) error {
	if c == nil {
		return fn
	}
	return func(it Item) error {
		c.tick()
		return fn(it)
	}
}

/*
 * entry.S - the test guest's 64-bit entry, as Linux's startup_64 is
 * entered: long mode, paging on (identity map), interrupts off,
 * RSI = boot_params. Record the entry state, set up a stack, call
 * guest_main(boot_params, state) and end the VM with its result through
 * the debug exit port 0x501 (then halt, should that port be missing).
 */
	.code64
	.section .text.entry, "ax"
	.globl _start
_start:
	leaq	stack_top(%rip), %rsp      /* the protocol gives no stack */
	pushfq
	popq	%rax
	leaq	entry_state(%rip), %rdi
	movq	%rax, 0(%rdi)          /* rflags */
	movw	%cs, %ax
	movw	%ax, 8(%rdi)
	movw	%ds, %ax
	movw	%ax, 10(%rdi)
	movw	%ss, %ax
	movw	%ax, 12(%rdi)
	movq	%rsi, 16(%rdi)         /* boot_params */
	leaq	_start(%rip), %rax
	movq	%rax, 24(%rdi)         /* where we run */
	movq	%rsi, %rdi             /* guest_main(boot_params, &entry_state) */
	leaq	entry_state(%rip), %rsi
	call	guest_main
	movw	$0x501, %dx
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b

	.section .bss
	.balign 16
stack:
	.skip 16384
stack_top:
	.section .note.GNU-stack, "", @progbits
